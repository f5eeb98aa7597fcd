"""Pure domain: dataclasses and functions. No I/O, no clock, no discord, no SQL."""
