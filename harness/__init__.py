"""Proves on the wire what closing a TCP connection does."""
