"""Public classes answer to their public name."""


def public(cls):
    """Give ``cls`` its public path ``skdeep.<name>``.

    Pickles, skops trust lists and reprs then name ``skdeep.MLPClassifier``
    rather than the private module that defines it, so they survive moves
    between private modules.
    """
    cls.__module__ = "skdeep"
    return cls
