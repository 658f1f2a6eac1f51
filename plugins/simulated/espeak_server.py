"""A tiny eSpeak NG synthesis server, run as a separate process by :mod:`.speech`.

Why a process of its own: eSpeak NG keeps state between utterances in static variables that no
API resets (pitch flutter phase, gain control, cycle counters, noise filters), so the same request
gives slightly different samples depending on what was spoken before. Here every utterance is
synthesised in a fresh ``fork`` of a server that has initialised eSpeak and done nothing else since,
so its samples depend only on the request. Forking a small process costs well under a millisecond,
where forking a process that has numpy, scipy and PyAV loaded costs ten; hence this script imports
nothing but the standard library (it is started by path, so the emokit package is not imported
either).

The server itself therefore never calls into eSpeak after start-up, not even to select a voice: the
child does that. ``espeak_SetVoiceByName`` is not mere configuration: it queues a voice-change
command on the wave generator's command queue (``wcmdq``, a ring of 170 entries), which only
synthesis consumes. Selecting the voice in the server, once per request, piled those commands up
there, so the n-th child started with n stale commands queued (modulo the ring's size) and spoke
differently, at times cut short by two thirds, depending on how many requests the server had
served before (which differs with the number of worker processes and the order of the jobs).
Selecting it in the child costs a few milliseconds per utterance (the voice and its dictionary are
loaded every time).
Where ``fork`` does not exist (Windows) it synthesises in-process: still correct speech, but not
sample-identical across runs that synthesise in different orders.

Protocol on stdin/stdout (little-endian):
    request:  u32 body length; body = u32 seed, i32 rate, i32 pitch, i32 range, i32 volume,
              u16 voice length, voice (ASCII), text (UTF-8, the rest)
    response: i32 status, u32 length, payload. Status 0: payload is int16 samples at the
              sample rate; otherwise a UTF-8 message. The first response, sent at start-up,
              carries the sample rate as an i32.

Usage: ``python espeak_server.py LIBRARY_PATH DATA_PATH``
"""

from __future__ import annotations

import ctypes
import os
import signal
import struct
import sys

OK, NO_VOICE, FAILED, CRASHED, BAD_REQUEST = 0, 1, 2, 3, 4
_REQUEST = struct.Struct("<Iiiii")  # seed, rate, pitch, range, volume (then u16 voice length)
_VOICE_LEN = struct.Struct("<H")
_RESPONSE = struct.Struct("<iI")
_LENGTH = struct.Struct("<I")

# eSpeak constants (speak_lib.h)
_SYNCHRONOUS, _POS_CHARACTER, _CHARS_UTF8 = 2, 1, 1
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def _load(lib_path: str):
    lib = ctypes.CDLL(lib_path)
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    if hasattr(lib, "espeak_ng_SetRandSeed"):  # eSpeak NG >= 1.51
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    return lib


def _read_exact(stream, n: int) -> bytes:
    data = stream.read(n)
    return data if data is not None else b""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _send(status: int, payload: bytes) -> None:
    _write_all(1, _RESPONSE.pack(status, len(payload)) + payload)


def _speak(lib, chunks: list, request: tuple, voice: bytes, text: bytes) -> tuple[int, bytes]:
    """Select ``voice``, set the parameters and speak ``text``; returns (status, payload)."""
    if lib.espeak_SetVoiceByName(voice) != 0:
        return NO_VOICE, b"no such voice: " + voice
    seed, rate, pitch, prange, volume = request
    for param, value in ((_RATE, rate), (_PITCH, pitch), (_RANGE, prange), (_VOLUME, volume)):
        lib.espeak_SetParameter(param, value, 0)
    if hasattr(lib, "espeak_ng_SetRandSeed"):
        lib.espeak_ng_SetRandSeed(seed)
    chunks.clear()
    status = lib.espeak_Synth(text, len(text) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
    lib.espeak_Synchronize()
    if status != 0 or not chunks:
        return FAILED, f"espeak_Synth returned {status} and {len(chunks)} chunks".encode()
    return OK, b"".join(chunks)


def _in_fork(lib, chunks: list, request: tuple, voice: bytes, text: bytes) -> tuple[int, bytes]:
    """Run :func:`_speak` in a child process, so this process's eSpeak state never changes."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: speak, hand the result over, and leave without any Python clean-up
        code = 1
        try:
            os.close(read_end)
            status, payload = _speak(lib, chunks, request, voice, text)
            _write_all(write_end, _RESPONSE.pack(status, len(payload)) + payload)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    parts = []
    while part := os.read(read_end, 1 << 20):
        parts.append(part)
    os.close(read_end)
    _, wait_status = os.waitpid(pid, 0)
    data = b"".join(parts)
    if wait_status != 0 or len(data) < _RESPONSE.size:
        return CRASHED, f"synthesis process failed (wait status {wait_status})".encode()
    status, length = _RESPONSE.unpack_from(data)
    return status, data[_RESPONSE.size : _RESPONSE.size + length]


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: espeak_server.py LIBRARY_PATH DATA_PATH\n")
        return 2
    # Ctrl-C reaches the whole process group: the client decides; this exits when its pipe closes
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lib = _load(argv[1])
    rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, argv[2].encode(), 0)
    if rate <= 0:
        _send(FAILED, f"espeak_Initialize failed ({rate}) with data {argv[2]}".encode())
        return 1
    chunks: list[bytes] = []

    def collect(wav, n_samples, _events) -> int:
        if n_samples > 0:
            chunks.append(ctypes.string_at(wav, 2 * n_samples))
        return 0

    callback = _CALLBACK(collect)
    lib.espeak_SetSynthCallback(callback)
    speak = _in_fork if hasattr(os, "fork") else _speak
    _send(OK, struct.pack("<i", rate))
    stdin = sys.stdin.buffer
    while True:
        head = _read_exact(stdin, _LENGTH.size)
        if len(head) < _LENGTH.size:
            return 0  # the client closed the pipe
        (length,) = _LENGTH.unpack(head)
        body = _read_exact(stdin, length)
        if len(body) < _REQUEST.size + _VOICE_LEN.size:
            _send(BAD_REQUEST, b"truncated request")
            continue
        request = _REQUEST.unpack_from(body)
        (voice_len,) = _VOICE_LEN.unpack_from(body, _REQUEST.size)
        start = _REQUEST.size + _VOICE_LEN.size
        voice, text = body[start : start + voice_len], body[start + voice_len :]
        # The voice is selected in the child, never here: see the module docstring (wcmdq).
        _send(*speak(lib, chunks, request, voice, text))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
