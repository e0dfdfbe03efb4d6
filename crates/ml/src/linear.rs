//! Ordinary least squares from sufficient statistics. The data pass (see `csvscan`) adds each
//! row into `Stats`; the fit reduces those sums to a small square system (a Cholesky factor)
//! that has the same least-squares solution, and linfa-linear solves it. Memory is the size of
//! the feature count, not of the data.

use linfa::prelude::*;
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2};

use crate::{Error, Result};

/// Values subtracted from every row before summing, so sums of squares stay small and exact.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shift {
    pub(crate) x: Vec<f64>,
    pub(crate) y: f64,
}

/// Sums over rows of z zᵀ, z w and w², where z = [1, x - shift.x] and w = y - shift.y.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stats {
    dim: usize,
    pub(crate) rows: u64,
    zz: Vec<f64>,
    zw: Vec<f64>,
    ww: f64,
}

impl Stats {
    pub(crate) fn new(features: usize) -> Stats {
        let dim = features + 1;
        Stats {
            dim,
            rows: 0,
            zz: vec![0.0; dim * dim],
            zw: vec![0.0; dim],
            ww: 0.0,
        }
    }

    /// Adds one row; `x` and `w` are already shifted.
    #[inline]
    pub(crate) fn add(&mut self, x: &[f64], w: f64) {
        let dim = self.dim;
        self.rows += 1;
        self.ww += w * w;
        // One feature (the salary case): the same sums without the loops.
        if let ([x0], [n, sx, _, sxx], [sw, sxw]) = (x, &mut self.zz[..], &mut self.zw[..]) {
            *n += 1.0;
            *sx += x0;
            *sxx += x0 * x0;
            *sw += w;
            *sxw += x0 * w;
            return;
        }
        self.zw[0] += w;
        self.zz[0] += 1.0;
        for i in 1..dim {
            let xi = x[i - 1];
            self.zw[i] += xi * w;
            self.zz[i] += xi; // row 0 (the intercept column)
            for j in i..dim {
                self.zz[i * dim + j] += xi * x[j - 1];
            }
        }
    }

    pub(crate) fn merge(&mut self, other: &Stats) {
        self.rows += other.rows;
        self.ww += other.ww;
        for (a, b) in self.zz.iter_mut().zip(&other.zz) {
            *a += b;
        }
        for (a, b) in self.zw.iter_mut().zip(&other.zw) {
            *a += b;
        }
    }

    /// The full symmetric z zᵀ matrix (only its upper triangle is summed).
    fn matrix(&self) -> Array2<f64> {
        let dim = self.dim;
        Array2::from_shape_fn((dim, dim), |(i, j)| {
            let (r, c) = if i <= j { (i, j) } else { (j, i) };
            self.zz[r * dim + c]
        })
    }
}

/// A fitted line (or hyperplane): in the data's own units.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LinearFit {
    pub(crate) intercept: f64,
    pub(crate) coefficients: Vec<f64>,
    /// The solution in shifted units, [intercept, coefficients...], for evaluating on `Stats`.
    shifted: Vec<f64>,
}

/// Fits y = intercept + Σ coefficients·x on the training sums; `names` are the feature names
/// (used in errors).
pub(crate) fn fit(train: &Stats, shift: &Shift, names: &[String]) -> Result<LinearFit> {
    let dim = train.dim;
    if train.rows < dim as u64 {
        return Err(Error::Invalid(format!(
            "only {} training rows for {dim} parameters: a linear fit needs at least as many rows as features + 1",
            train.rows
        )));
    }
    let matrix = train.matrix();
    // Squares of values near 1e308 overflow: that is not a singular system, and must not be
    // reported as one.
    if matrix.iter().chain(&train.zw).any(|v| !v.is_finite()) {
        return Err(Error::Invalid(
            "the values are too large to fit: their squares overflow (over about 1e154): rescale the columns"
                .into(),
        ));
    }
    let l = cholesky(&matrix).map_err(|column| {
        let name = names.get(column.wrapping_sub(1)).map_or("a feature", String::as_str);
        Error::Invalid(format!(
            "feature {name:?} is constant or repeats other features (the system is singular): drop it with --x"
        ))
    })?;
    // With A = L Lᵀ, minimising |Lᵀβ - L⁻¹b| solves the same normal equations A β = b.
    let zw = Array1::from(train.zw.clone());
    let reduced_y = forward_substitute(&l, &zw);
    let reduced_x = l.t().to_owned();
    let dataset = Dataset::new(reduced_x, reduced_y);
    let fitted = LinearRegression::new()
        .with_intercept(false)
        .fit(&dataset)
        .map_err(|e| Error::Fit(format!("linear regression failed: {e}")))?;
    let shifted: Vec<f64> = fitted.params().to_vec();
    let coefficients = shifted[1..].to_vec();
    let intercept = shifted[0] + shift.y - coefficients.iter().zip(&shift.x).map(|(b, s)| b * s).sum::<f64>();
    Ok(LinearFit {
        intercept,
        coefficients,
        shifted,
    })
}

/// Mean squared error and R² of the fit on the rows summed in `stats`.
pub(crate) fn evaluate(fit: &LinearFit, stats: &Stats) -> (f64, f64) {
    let n = stats.rows as f64;
    let beta = Array1::from(fit.shifted.clone());
    let a = stats.matrix();
    let b = Array1::from(stats.zw.clone());
    let sse = (stats.ww - 2.0 * beta.dot(&b) + beta.dot(&a.dot(&beta))).max(0.0);
    let mean = stats.zw[0] / n;
    let sst = stats.ww - n * mean * mean;
    (sse / n, if sst > 0.0 { 1.0 - sse / sst } else { f64::NAN })
}

/// Lower-triangular L with L Lᵀ = a; `Err(column)` where a pivot vanishes (singular).
fn cholesky(a: &Array2<f64>) -> std::result::Result<Array2<f64>, usize> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for j in 0..n {
        let mut diag = a[(j, j)];
        for k in 0..j {
            diag -= l[(j, k)] * l[(j, k)];
        }
        // Relative to the column's own size: a feature equal to a mix of others leaves only
        // rounding noise here.
        if diag.is_nan() || diag <= a[(j, j)].abs() * 1e-10 || !diag.is_finite() {
            return Err(j);
        }
        let d = diag.sqrt();
        l[(j, j)] = d;
        for i in j + 1..n {
            let mut v = a[(i, j)];
            for k in 0..j {
                v -= l[(i, k)] * l[(j, k)];
            }
            l[(i, j)] = v / d;
        }
    }
    Ok(l)
}

fn forward_substitute(l: &Array2<f64>, b: &Array1<f64>) -> Array1<f64> {
    let n = b.len();
    let mut y = Array1::<f64>::zeros(n);
    for i in 0..n {
        let mut v = b[i];
        for k in 0..i {
            v -= l[(i, k)] * y[k];
        }
        y[i] = v / l[(i, i)];
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats_of(rows: &[(Vec<f64>, f64)], shift: &Shift) -> Stats {
        let mut stats = Stats::new(shift.x.len());
        for (x, y) in rows {
            let xs: Vec<f64> = x.iter().zip(&shift.x).map(|(a, s)| a - s).collect();
            stats.add(&xs, y - shift.y);
        }
        stats
    }

    /// The streaming fit must agree with linfa-linear fitted on the whole data directly.
    #[test]
    fn sufficient_statistics_agree_with_linfa_on_the_full_data() {
        let mut rows = Vec::new();
        let mut state = 7u64;
        let mut noise = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        for i in 0..500 {
            let (x1, x2) = (f64::from(i) * 0.1, noise() * 30.0);
            rows.push((
                vec![x1, x2],
                103_100.0 + 1_850.0 * x1 - 40.0 * x2 + noise() * 5_000.0,
            ));
        }
        let shift = Shift {
            x: rows[0].0.clone(),
            y: rows[0].1,
        };
        let names = vec!["x".to_string(), "x2".to_string()];
        let ours = fit(&stats_of(&rows, &shift), &shift, &names).unwrap();

        let records = Array2::from_shape_fn((rows.len(), 2), |(i, j)| rows[i].0[j]);
        let targets = Array1::from_iter(rows.iter().map(|r| r.1));
        let direct = LinearRegression::new()
            .fit(&Dataset::new(records.clone(), targets.clone()))
            .unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
        assert!(
            close(ours.intercept, direct.intercept()),
            "{} vs {}",
            ours.intercept,
            direct.intercept()
        );
        for (a, b) in ours.coefficients.iter().zip(direct.params()) {
            assert!(close(*a, *b), "{a} vs {b}");
        }
        let predicted = direct.predict(&records);
        let mse = predicted
            .iter()
            .zip(&targets)
            .map(|(p, y)| (p - y).powi(2))
            .sum::<f64>()
            / rows.len() as f64;
        let (our_mse, r2) = evaluate(&ours, &stats_of(&rows, &shift));
        assert!(close(our_mse, mse), "{our_mse} vs {mse}");
        assert!(r2 > 0.9 && r2 < 1.0);
    }

    #[test]
    fn singular_systems_name_the_feature() {
        let rows: Vec<(Vec<f64>, f64)> = (0..10)
            .map(|i| (vec![f64::from(i), 2.0 * f64::from(i)], f64::from(i)))
            .collect();
        let shift = Shift {
            x: vec![0.0, 0.0],
            y: 0.0,
        };
        let err = fit(&stats_of(&rows, &shift), &shift, &["a".into(), "b".into()]).unwrap_err();
        assert!(
            err.to_string().contains("feature \"b\" is constant or repeats"),
            "{err}"
        );
        let constant: Vec<(Vec<f64>, f64)> = (0..10).map(|i| (vec![5.0], f64::from(i))).collect();
        let err = fit(&stats_of(&constant, &shift_of(1)), &shift_of(1), &["c".into()]).unwrap_err();
        assert!(err.to_string().contains("feature \"c\""), "{err}");
        let few = fit(&stats_of(&rows[..1], &shift), &shift, &["a".into(), "b".into()]).unwrap_err();
        assert!(
            few.to_string().contains("only 1 training rows for 3 parameters"),
            "{few}"
        );
    }

    fn shift_of(features: usize) -> Shift {
        Shift {
            x: vec![0.0; features],
            y: 0.0,
        }
    }
}
