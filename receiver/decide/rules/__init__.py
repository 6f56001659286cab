"""The rules deciding applies, pure (no I/O; the caller reads the state and passes the time).

- ``versions``: what makes a tag a version, and how tags are ordered;
- ``patterns``: the regular expressions people write, run with RE2 (linear in the tag);
- ``policy``: whether a workload running one tag moves to another (``judge_tag``), tag filters,
  the newest eligible tag;
- ``decision``: whether one target moves to one pushed image, and which image it should run;
- ``windows``: weekly deploy windows in a time zone;
- ``release``: whether a decided deploy goes now or waits, and for what (``judge_release``).
"""
