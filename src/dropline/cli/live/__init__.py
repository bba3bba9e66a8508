"""Live-drop commands: drops (offers, schedule, go live, pause, end) and the live-drop simulator."""
