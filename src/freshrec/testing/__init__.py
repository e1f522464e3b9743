"""Contract suites a user's own component can be checked with (LensKit ships the same).

Subclass one in a pytest module and provide its fixture:

    from freshrec.testing import SourceCase, SourceContract

    class TestMySource(SourceContract):
        @pytest.fixture
        def case(self) -> SourceCase:
            return SourceCase(MySource(...), users=[Asker(0, 100), Asker(None, 100)])

Needs pytest (the ``dev`` extra).
"""

from freshrec.testing.sources import SourceCase, SourceContract

__all__ = ["SourceCase", "SourceContract"]
