"""Slash commands: built-in ones and those bots register (answered at the bot's URL)."""
