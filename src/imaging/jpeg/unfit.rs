/// Why a file cannot take the DC-scan path (libjpeg then decodes it whole).
#[derive(Debug, PartialEq, Eq)]
pub struct Unfit(pub &'static str);
