"""The ``hpfw`` console script: Hydra's app, plus the ``report`` subcommand."""

from __future__ import annotations


def main() -> None:
    from hpfw.__main__ import main as hydra_main

    hydra_main()


if __name__ == "__main__":
    main()
