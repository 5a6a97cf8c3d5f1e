"""The only code that runs commands on the host: ``Host.run(argv, netns=None, input=None)``.

``RealHost`` executes argv lists (never shell strings) and logs each once; ``FakeHost`` keeps an
in-memory OVSDB, flow tables and netfilter tables and answers the same commands, so realizer tests
need no root.
May import only neutrino.model.
"""
