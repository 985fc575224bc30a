"""The hourly figures' latency sketches as stored (explorer.store.hourly_figures.Sketch.encode,
migration store 0013): every bin and count read back, the counts as wide as the largest needs,
damaged bytes refused, sums across widths, and the sketches of a store filled before written
again in the new format and back."""

from array import array

import pytest

from explorer.store import hourly_operations
from explorer.store.hourly_figures import HOUR_NS, Sketch, bin_of, encoded_bins
from explorer.store.hourly_series import above
from explorer.store.models import HourlyOperation
from tests.migration_support import migrated_back_to
from tests.web_support import T0

HOUR = T0 - T0 % HOUR_NS


def test_every_bin_and_count_reads_back():
    sketch = Sketch()
    for duration in (-5, 0, 1, 999, 10**6, 10**9, 7 * 10**12, 2**63 - 1):
        sketch.add(duration)
    assert bin_of(2**63 - 1) < 2**16  # the indexes' 16 bits hold the longest duration
    assert Sketch.decode(sketch.encode()).bins == sketch.bins
    assert Sketch.decode(b"").bins == {} and Sketch().encode() == b""


@pytest.mark.parametrize(("most", "width"), [(1, 1), (255, 1), (256, 2), (65_535, 2), (65_536, 4)])
def test_counts_take_the_least_width_their_largest_fits(most, width):
    sketch = Sketch({3: 1, 40: most, 2000: 7})
    data = sketch.encode()
    assert data[0] == width and len(data) == 1 + 3 * (2 + width)
    assert Sketch.decode(data).bins == sketch.bins


def test_a_count_beyond_32_bits_is_kept_at_the_most_it_can_say():
    assert Sketch.decode(Sketch({5: 2**40, 6: 1}).encode()).bins == {5: 2**32 - 1, 6: 1}


@pytest.mark.parametrize("damaged", [b"\x03\x00\x00\x01", b"\x01\x05", b"\x02\x01\x00\x01"])
def test_bytes_that_do_not_fit_the_format_are_refused(damaged):
    with pytest.raises(ValueError, match="hourly sketch"):
        Sketch.decode(damaged)


def test_sums_and_counts_above_read_every_width_alike():
    sketches = [Sketch({1: 3, 9: 1}), Sketch({9: 300, 50: 2}), Sketch({9: 70_000}), Sketch()]
    merged = Sketch()
    for sketch in sketches:
        merged.add_encoded(sketch.encode())
    assert (
        Sketch.summed(s.encode() for s in sketches).bins
        == merged.bins
        == {
            1: 3,
            9: 70_301,
            50: 2,
        }
    )
    assert sum(above(s.encode(), 9) for s in sketches) == 70_303
    indexes, counts = encoded_bins(sketches[1].encode())
    assert list(indexes) == [9, 50] and list(counts) == [300, 2]


def wide(sketch: Sketch) -> bytes:
    """A sketch as it was stored before migration 0013: 32-bit index and count pairs."""
    pairs = sorted(sketch.bins.items())
    return array("I", [value for pair in pairs for value in pair]).tobytes()


@pytest.mark.django_db(transaction=True)
def test_migration_0013_writes_the_stored_sketches_again_and_back():
    sketches = [Sketch({1: 3, 9: 1}), Sketch({9: 300, 2185: 2}), Sketch({4: 70_000}), Sketch()]
    with migrated_back_to("store", "0012_attribute_key_codes") as old:
        for number, sketch in enumerate(sketches):
            old.get_model("store", "HourlyOperation").objects.create(
                hour=HOUR, service="shop-api", operation=f"op {number}", kind=2,
                count=sketch.count, sketch=wide(sketch),
            )  # fmt: skip
    stored = HourlyOperation.objects.order_by("key__operation").values_list("sketch", flat=True)
    assert [bytes(data) for data in stored] == [s.encode() for s in sketches]
    _, figures = hourly_operations.window(HOUR, HOUR + HOUR_NS)
    assert {
        op[2]: f.sketch.bins for op, f in figures.items()
    } == {  # (element, service, name, kind)
        f"op {number}": sketch.bins for number, sketch in enumerate(sketches) if sketch.bins
    }  # a row of no span counts nothing
    with migrated_back_to("store", "0012_attribute_key_codes") as old:
        back = old.get_model("store", "HourlyOperation").objects.order_by("operation")
        assert [bytes(data) for data in back.values_list("sketch", flat=True)] == [
            wide(s) for s in sketches
        ]
