"""External systems the processes read and change: CAM Pegasus (bot.systems.pegasus)."""
