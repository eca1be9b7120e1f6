"""Data shipped with bench as package data: hardware profiles (``profiles/*.toml``) and efficiency standards
(``standards/*.toml``). Read through :mod:`importlib.resources`, so an installed wheel finds them too."""
