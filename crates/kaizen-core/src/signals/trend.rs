//! Trend direction from the two halves of a window.

use crate::snapshot::TrendDirection;

/// Compares the second half's value with the first half's. A relative change within
/// `tolerance` (or a missing half) is [`TrendDirection::Stable`]; otherwise the direction is
/// judged by whether higher is better for the metric.
pub fn trend(
    first: Option<f64>,
    second: Option<f64>,
    higher_is_better: bool,
    tolerance: f64,
) -> TrendDirection {
    let (Some(a), Some(b)) = (first, second) else {
        return TrendDirection::Stable;
    };
    let change = b - a;
    let scale = a.abs();
    let significant = if scale > f64::EPSILON {
        (change / scale).abs() > tolerance
    } else {
        change.abs() > f64::EPSILON
    };
    if !significant {
        return TrendDirection::Stable;
    }
    if (change > 0.0) == higher_is_better {
        TrendDirection::Improving
    } else {
        TrendDirection::Declining
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TrendDirection::*;

    #[test]
    fn trend_directions() {
        assert_eq!(trend(Some(7.0), Some(6.0), true, 0.05), Declining);
        assert_eq!(trend(Some(7.0), Some(8.0), true, 0.05), Improving);
        assert_eq!(trend(Some(10.0), Some(20.0), false, 0.05), Declining);
        // 5% exactly is within tolerance.
        assert_eq!(trend(Some(100.0), Some(105.0), true, 0.05), Stable);
        assert_eq!(trend(Some(100.0), Some(105.1), true, 0.05), Improving);
        assert_eq!(trend(None, Some(1.0), true, 0.05), Stable);
        assert_eq!(trend(Some(0.0), Some(0.0), false, 0.05), Stable);
        assert_eq!(trend(Some(0.0), Some(3.0), false, 0.05), Declining);
    }
}
