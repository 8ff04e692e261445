"""``python -m hpfw``: the same as the ``hpfw`` command."""

from hpfw.cli import run

if __name__ == "__main__":
    run()
