"""The built-in node types of vfx, registered through entry points like any third-party plugin."""
