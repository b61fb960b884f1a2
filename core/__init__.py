"""mixbridge core: the model (Param, Processor, Chain, Session), the plugin host and the offline render.

Importing ``core`` is cheap: numba, scipy and audio libraries load only with the
modules that use them.
"""

__version__ = "0.1.0"
