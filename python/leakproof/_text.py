"""Category text: the one way a column is spelt as Arrow text (training, scoring, reasons)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

__all__ = ["string_array"]


def string_array(series: pd.Series) -> pa.Array:
    """A column as an Arrow large_string array with nulls (the one way categories are spelt).

    Numbers become their shortest decimal text (1 -> '1', 2.5 -> '2.5'), booleans 'true'/'false'.
    Used by training, scoring and hashing alike, so a category is spelt the same everywhere.
    """
    try:
        array = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = pa.array(series.astype("string"), from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if not pa.types.is_large_string(array.type):
        array = array.cast(pa.large_string())
    return array
