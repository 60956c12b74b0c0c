//! toolgate integration tests: one binary, real peers (see tests/testbed).
