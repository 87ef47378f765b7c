"""The command line. ``main`` builds the root app and adds each module's commands to it
(``register``); ``common`` holds what the command modules share."""
