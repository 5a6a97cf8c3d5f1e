"""The vocabulary: frozen values and names shared by every layer. No I/O; imports nothing else from neutrino."""
