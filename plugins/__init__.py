"""emokit's built-in plugins, registered through the same `emokit` entry points a third party uses."""
