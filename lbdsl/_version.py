"""The version of lbdsl (read by the build, the reports and ``lbdsl --version``)."""

__version__ = "0.1.0"
