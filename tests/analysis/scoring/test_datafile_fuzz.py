"""Property test of the TOML data files' loaders: any text loads or is one ConfigError line."""

import string

from hypothesis import given
from hypothesis import strategies as st

from bench.analysis.scoring.profiles import load_profile_file
from bench.analysis.scoring.standard import load_standard_file
from bench.errors import ConfigError
from tests.support.fuzz import FAST, one_line_error


@FAST
@given(text=st.text(alphabet=string.printable, max_size=300))
def test_profile_and_standard_loaders_on_arbitrary_toml(tmp_path, text):
    for loader in (load_profile_file, load_standard_file):
        path = tmp_path / "x.toml"
        path.write_text(text)
        assert one_line_error(loader, path, ConfigError) is None  # random text is never a valid profile
