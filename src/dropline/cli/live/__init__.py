"""Live-drop commands: the live-drop simulator."""
