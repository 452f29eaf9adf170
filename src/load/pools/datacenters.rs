//! `[datacenters]`: names, locations and bias.

use super::Ctx;
use super::spec::DcSpec;
use crate::model::Datacenter;

pub(super) fn build(
    cx: &mut Ctx<'_>,
    specs: Vec<(String, std::ops::Range<usize>, DcSpec)>,
) -> Vec<Datacenter> {
    let mut out = Vec::new();
    for (name, span, s) in specs {
        let mut location = None;
        if let Some(loc) = &s.location {
            match loc.get_ref().as_slice() {
                [lat, lon] if (-90.0..=90.0).contains(lat) && (-180.0..=180.0).contains(lon) => {
                    location = Some((*lat, *lon))
                }
                _ => cx.at(
                    loc.span(),
                    format!("datacenter '{name}': location must be [latitude, longitude] in degrees (−90…90, −180…180)"),
                ),
            }
        }
        let bias_km = match &s.bias_km {
            Some(b) if b.get_ref().is_finite() && b.get_ref().abs() < 20_000.0 => *b.get_ref(),
            Some(b) => {
                cx.at(
                    b.span(),
                    format!("datacenter '{name}': bias_km must be between −20000 and 20000"),
                );
                0.0
            }
            None => 0.0,
        };
        if s.bias_km.is_some() && location.is_none() {
            cx.at(
                span.clone(),
                format!("datacenter '{name}': bias_km needs a location"),
            );
        }
        out.push(Datacenter {
            name,
            location,
            bias_km,
        });
    }
    out
}
