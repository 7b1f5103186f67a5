//! Attacks by the user the sensor watches: an unprivileged account logged in over SSH in the
//! test namespace tries to blind the sensor, evade it, forge an alert's context or hide an
//! alert. Every attack runs next to a real attack whose alert must still arrive, so a sensor
//! that detects nothing cannot pass. Each module is one family of attacks (issue 9), and each
//! test failed against the sensor before its defence landed (`SSHD_SENSOR_BIN` pointed at the
//! old binary).

#[path = "adversary/alerts.rs"]
mod alerts;
#[path = "adversary/context.rs"]
mod context;
#[path = "adversary/lineage.rs"]
mod lineage;
