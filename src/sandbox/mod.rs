//! Emulated provider APIs on loopback, behind `runbook sandbox` and `play --sandbox`.
