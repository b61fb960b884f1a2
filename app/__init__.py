"""The application: what a person runs.

The mix planner, the song pipeline, the enhanced-audio cache, batch rendering, the
demo, every CLI command (registered through the ``mixbridge_commands`` hook) and
every benchmark. app/ sits on top: it imports bridge, rt, memory and core, reaches
processors through the plugin host, and nothing but the entry point imports it.
"""
