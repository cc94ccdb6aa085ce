"""Failed test ids read from the forms test runners print them in."""

from __future__ import annotations

from conveyor.engine.failed_tests import FailedTests


def test_it_reads_unittest_pytest_and_collection_errors_once_each() -> None:
    found = FailedTests()
    assert not found.feed("Ran 3 tests in 0.01s\nall fine here")
    assert found.feed(
        "FAIL: test_total (shop.tests.CartTests.test_total)\n"
        "ERROR: test_stock (shop.tests.StockTests)\n"  # before Python 3.11: the class only
        "FAILED (failures=1, errors=1)\n"
        "\x1b[31mFAILED\x1b[0m tests/test_cart.py::test_sum[a b] - assert 1 == 2\n"
        "ERROR tests/test_broken.py - ImportError: no module named shop\n"
        "ERROR: Could not find a version that satisfies the requirement\n"
    )
    # The same test failing again (another matrix combination) is counted once.
    found.feed("FAILED tests/test_cart.py::test_sum[a b] - assert 1 == 2")
    assert found.ids == [
        "shop.tests.CartTests.test_total",
        "shop.tests.StockTests.test_stock",
        "tests/test_cart.py::test_sum[a b]",
        "tests/test_broken.py",
    ]
    assert found.count == 4
