"""A terminal chat with several people and channels: the default way to try coopbot."""
