//! argus-judge
