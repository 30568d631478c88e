//! argus-web
