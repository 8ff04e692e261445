"""``python -m hpfw``: the same as the ``hpfw`` command."""

from hpfw.cli import main

if __name__ == "__main__":
    main()
