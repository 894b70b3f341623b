"""Exit statuses of ``gluonts-iqf`` and the error for bad input."""

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2


class CLIError(Exception):
    """Bad input; reported as one line ``error: <message>``, exit status 2."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
