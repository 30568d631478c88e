//! argus-agent
