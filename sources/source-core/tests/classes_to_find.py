"""Classes in the shapes `inspect.findsource` has to find: decorated, nested, local to a function, defined twice."""

from __future__ import annotations

import dataclasses


class Plain:
    pass


@dataclasses.dataclass
class Decorated:
    x: int = 0


class Outer:
    class Inner:
        class Deepest:
            pass


def make_local() -> type:
    class Local:
        pass

    return Local


Local = make_local()


class Twice:
    version = 1


class Twice:  # noqa: F811 - the second definition is the class; inspect still finds the first
    version = 2


Made = type("Made", (), {"__module__": __name__})  # in no source
