//! Workspace-wide checks and end-to-end tests live in `tests/it`; this library is empty.
