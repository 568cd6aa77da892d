"""Front end: the ``.lbn`` grammar, its parser, and the frozen syntax tree it builds."""
