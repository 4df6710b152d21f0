"""test/sim/checks.py - TAP lines for the simulation's stack-free tests (waves_test.py,
timeline_test.py): one counter, so each file's summary line reads the same way."""
import sys


class Checks:
    """Counts and prints `ok` / `not ok` lines; `finish` prints the step's summary and exits."""

    def __init__(self, label):
        self.label = label
        self.passed = 0
        self.failed = 0

    def __call__(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("ok - %s" % name)
        else:
            self.failed += 1
            print("not ok - %s %s" % (name, detail))

    def finish(self):
        print("%s: %d passed, %d failed" % (self.label, self.passed, self.failed))
        sys.exit(1 if self.failed else 0)
