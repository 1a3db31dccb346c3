"""Shared set-up for protocol tests: teach hypothesis to build kio's ``Records`` fields."""

from hypothesis import strategies as st
from kio.static.primitive import Records

st.register_type_strategy(Records, st.binary(max_size=64).map(Records))
