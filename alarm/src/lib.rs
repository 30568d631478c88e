//! argus-alarm
