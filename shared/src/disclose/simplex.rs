//! A small dense simplex for the disclosure audit's LPs: one tableau per component, made feasible
//! once, then re-optimised from its current basis for each objective asked of it.
//!
//! Why not microlp for these: a report's audit solves twenty to fifty LPs over the same few
//! constraints, and microlp builds, presolves, factorises and frees every one of them from scratch
//! (allocation alone was a quarter of the profile). These LPs are tiny (a component has a few dozen
//! variables and rows), so a dense tableau kept between objectives answers each new objective in a
//! handful of pivots.
//!
//! Nothing here is taken on trust where privacy depends on it: [`super::component`] checks every
//! point this returns against the relations before it is used, and an unbounded answer only counts
//! through a checked point along its ray. A wrong answer (a point that does not check out, an
//! optimum that is not really optimal) makes a range look narrower, never wider, or sends the
//! problem to microlp. `tests::against_microlp` holds the optima to microlp's.

/// How a constraint row compares its left side with its right side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Eq,
    Le,
    Ge,
}

/// One LP row: its terms (variable, coefficient), its comparison and its right-hand side.
pub(crate) type Row<V> = (Vec<(V, f64)>, Op, f64);

/// Whether a re-optimisation found an optimum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Outcome {
    Optimal,
    Unbounded,
    /// Infeasible, or stopped by the iteration cap or a numerical problem: no answer.
    Failed,
}

/// Pivot elements and reduced costs smaller than this count as zero.
const TOL: f64 = 1e-9;
/// Pivots allowed per optimisation before giving up (the LPs here need tens).
const MAX_PIVOTS: usize = 2_000;

/// An LP in `vars` non-negative variables, kept as a feasible simplex tableau.
pub(crate) struct Lp {
    vars: usize,
    /// Columns: the variables, then one slack per inequality row, then the artificial variables
    /// of phase one (never entering again once phase one is over).
    columns: usize,
    first_artificial: usize,
    /// Row-major, `columns + 1` entries per row, the last one the right-hand side.
    tableau: Vec<f64>,
    /// The basic column of each row.
    basis: Vec<usize>,
    /// Reduced costs of the current objective, one per column.
    reduced: Vec<f64>,
    /// The column that could grow without bound, when the last optimisation was unbounded.
    unbounded: Option<usize>,
    /// Scratch for [`Lp::pivot`]: the pivot row's non-zero columns (kept to reuse its allocation).
    nonzero: Vec<usize>,
}

impl Lp {
    /// Builds the tableau of `rows` (terms over variables `0..vars`, comparison, right-hand side)
    /// and runs phase one. `None` when the constraints have no solution the solver can find.
    pub(crate) fn feasible(vars: usize, rows: &[Row<usize>]) -> Option<Lp> {
        let slacks = rows.iter().filter(|(_, op, _)| *op != Op::Eq).count();
        // A row gets an artificial variable unless its slack can start in the basis (coefficient
        // +1 once the right-hand side is made non-negative).
        let needs_artificial = |op: Op, rhs: f64| match op {
            Op::Eq => true,
            Op::Le => rhs < 0.0,
            Op::Ge => rhs >= 0.0,
        };
        let artificials = rows
            .iter()
            .filter(|&&(_, op, rhs)| needs_artificial(op, rhs))
            .count();
        let first_artificial = vars + slacks;
        let columns = first_artificial + artificials;
        let stride = columns + 1;
        let mut lp = Lp {
            vars,
            columns,
            first_artificial,
            tableau: vec![0.0; rows.len() * stride],
            basis: Vec::with_capacity(rows.len()),
            reduced: vec![0.0; columns],
            unbounded: None,
            nonzero: Vec::new(),
        };
        let (mut slack, mut artificial) = (vars, first_artificial);
        for (r, (terms, op, rhs)) in rows.iter().enumerate() {
            let row = &mut lp.tableau[r * stride..(r + 1) * stride];
            let sign = if *rhs < 0.0 { -1.0 } else { 1.0 };
            for &(v, a) in terms {
                debug_assert!(v < vars, "a term of a variable the LP does not have");
                row[v] += sign * a;
            }
            row[columns] = sign * rhs;
            match op {
                Op::Eq => {}
                Op::Le => row[slack] = sign,
                Op::Ge => row[slack] = -sign,
            }
            if needs_artificial(*op, *rhs) {
                row[artificial] = 1.0;
                lp.basis.push(artificial);
                artificial += 1;
            } else {
                lp.basis.push(slack);
            }
            if *op != Op::Eq {
                slack += 1;
            }
        }
        // Phase one: minimise the sum of the artificial variables.
        let mut cost = vec![0.0; columns];
        cost[first_artificial..].iter_mut().for_each(|c| *c = 1.0);
        if lp.optimise(&cost, columns) != Outcome::Optimal {
            return None;
        }
        let scale = 1.0 + rows.iter().map(|r| r.2.abs()).fold(0.0, f64::max);
        let infeasibility: f64 = (0..lp.rows())
            .filter(|&r| lp.basis[r] >= first_artificial)
            .map(|r| lp.rhs(r))
            .sum();
        if infeasibility > 1e-9 * scale {
            return None;
        }
        lp.drive_out_artificials();
        lp.drop_artificial_columns();
        Some(lp)
    }

    fn rows(&self) -> usize {
        self.basis.len()
    }

    fn stride(&self) -> usize {
        self.columns + 1
    }

    fn at(&self, r: usize, c: usize) -> f64 {
        self.tableau[r * self.stride() + c]
    }

    fn rhs(&self, r: usize) -> f64 {
        self.at(r, self.columns)
    }

    /// After phase one every artificial variable is zero; those still basic are swapped for any
    /// other column of their row, and a row with no other column is redundant and removed.
    fn drive_out_artificials(&mut self) {
        let mut r = 0;
        while r < self.rows() {
            if self.basis[r] < self.first_artificial {
                r += 1;
                continue;
            }
            match (0..self.first_artificial).find(|&c| self.at(r, c).abs() > TOL) {
                Some(c) => {
                    self.pivot(r, c);
                    r += 1;
                }
                None => {
                    let stride = self.stride();
                    self.tableau.drain(r * stride..(r + 1) * stride);
                    self.basis.remove(r);
                }
            }
        }
    }

    /// Phase one is over and no artificial column is basic: keep only the others, so later pivots
    /// do not carry them.
    fn drop_artificial_columns(&mut self) {
        let (old, new) = (self.stride(), self.first_artificial + 1);
        let mut tableau = Vec::with_capacity(self.rows() * new);
        for row in self.tableau.chunks_exact(old) {
            tableau.extend_from_slice(&row[..self.first_artificial]);
            tableau.push(row[self.columns]);
        }
        self.tableau = tableau;
        self.columns = self.first_artificial;
        self.reduced.truncate(self.columns);
    }

    /// Minimises `Σ objective` over the variables (`maximise` flips it), starting from the current
    /// basis.
    pub(crate) fn optimise_vars(&mut self, objective: &[(usize, f64)], maximise: bool) -> Outcome {
        let mut cost = vec![0.0; self.columns];
        for &(v, c) in objective {
            cost[v] += if maximise { -c } else { c };
        }
        self.optimise(&cost, self.first_artificial)
    }

    /// The current basic solution's variable values.
    pub(crate) fn point(&self) -> Vec<f64> {
        let mut x = vec![0.0; self.vars];
        for (r, &b) in self.basis.iter().enumerate() {
            if b < self.vars {
                x[b] = self.rhs(r);
            }
        }
        x
    }

    /// After an unbounded optimisation: how the variables change per unit of the column that can
    /// grow without bound (the basic ones fall by its tableau column, the rest stay).
    pub(crate) fn ray(&self) -> Option<Vec<f64>> {
        let c = self.unbounded?;
        let mut d = vec![0.0; self.vars];
        if c < self.vars {
            d[c] = 1.0;
        }
        for (r, &b) in self.basis.iter().enumerate() {
            if b < self.vars {
                d[b] = -self.at(r, c);
            }
        }
        Some(d)
    }

    /// The primal simplex from the current (feasible) basis, columns `0..enter_below` allowed to
    /// enter. Dantzig's rule (most negative reduced cost), switching to Bland's (lowest index) after
    /// a run of degenerate pivots so it cannot cycle.
    fn optimise(&mut self, cost: &[f64], enter_below: usize) -> Outcome {
        let stride = self.stride();
        self.unbounded = None;
        self.reduced.copy_from_slice(cost);
        for r in 0..self.rows() {
            let cb = cost[self.basis[r]];
            if cb != 0.0 {
                let row = &self.tableau[r * stride..r * stride + self.columns];
                for (d, &a) in self.reduced.iter_mut().zip(row) {
                    *d -= cb * a;
                }
            }
        }
        let mut degenerate_run = 0;
        for _ in 0..MAX_PIVOTS {
            let bland = degenerate_run > self.rows();
            let entering = if bland {
                (0..enter_below).find(|&c| self.reduced[c] < -TOL)
            } else {
                (0..enter_below)
                    .filter(|&c| self.reduced[c] < -TOL)
                    .min_by(|&a, &b| self.reduced[a].total_cmp(&self.reduced[b]))
            };
            let Some(c) = entering else {
                return Outcome::Optimal;
            };
            // Ratio test; ties go to the lowest basic column (Bland).
            let mut leaving: Option<(usize, f64)> = None;
            for r in 0..self.rows() {
                let a = self.at(r, c);
                if a > TOL {
                    let ratio = self.rhs(r).max(0.0) / a;
                    let better = match leaving {
                        None => true,
                        Some((l, best)) => {
                            ratio < best - 1e-12
                                || (ratio <= best + 1e-12 && self.basis[r] < self.basis[l])
                        }
                    };
                    if better {
                        leaving = Some((r, ratio));
                    }
                }
            }
            let Some((r, ratio)) = leaving else {
                self.unbounded = Some(c);
                return Outcome::Unbounded;
            };
            degenerate_run = if ratio <= 1e-12 {
                degenerate_run + 1
            } else {
                0
            };
            self.pivot(r, c);
            if !self.reduced.iter().all(|d| d.is_finite()) {
                return Outcome::Failed;
            }
        }
        Outcome::Failed
    }

    /// Makes column `c` basic in row `r`.
    fn pivot(&mut self, r: usize, c: usize) {
        let stride = self.stride();
        let p = self.at(r, c);
        let (before, rest) = self.tableau.split_at_mut(r * stride);
        let (pivot_row, after) = rest.split_at_mut(stride);
        pivot_row.iter_mut().for_each(|a| *a /= p);
        pivot_row[c] = 1.0;
        // The stacked tables of a joint audit give wide, sparse rows (a relation touches a handful
        // of a few hundred columns): eliminating over the pivot row's non-zeros only does the same
        // arithmetic (subtracting `f * 0` changes nothing) in a fraction of the time.
        let mut nonzero = std::mem::take(&mut self.nonzero);
        nonzero.clear();
        nonzero.extend((0..stride).filter(|&j| pivot_row[j] != 0.0 && j != c));
        for row in before
            .chunks_exact_mut(stride)
            .chain(after.chunks_exact_mut(stride))
        {
            let f = row[c];
            if f != 0.0 {
                for &j in &nonzero {
                    row[j] -= f * pivot_row[j];
                }
                row[c] = 0.0;
            }
        }
        let f = self.reduced[c];
        if f != 0.0 {
            for &j in nonzero.iter().take_while(|&&j| j < self.columns) {
                self.reduced[j] -= f * pivot_row[j];
            }
            self.reduced[c] = 0.0;
        }
        self.nonzero = nonzero;
        self.basis[r] = c;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solve(
        vars: usize,
        rows: &[Row<usize>],
        objective: &[(usize, f64)],
        maximise: bool,
    ) -> (Outcome, Vec<f64>) {
        let mut lp = Lp::feasible(vars, rows).expect("feasible");
        let outcome = lp.optimise_vars(objective, maximise);
        (outcome, lp.point())
    }

    #[test]
    fn a_sum_with_a_known_total_bounds_each_part() {
        // x0 + x1 + x2 = 10, x0 ≤ 4
        let rows = vec![
            (vec![(0, 1.0), (1, 1.0), (2, 1.0)], Op::Eq, 10.0),
            (vec![(0, 1.0)], Op::Le, 4.0),
        ];
        let (o, p) = solve(3, &rows, &[(0, 1.0)], true);
        assert_eq!(o, Outcome::Optimal);
        assert!((p[0] - 4.0).abs() < 1e-9, "{p:?}");
        let (o, p) = solve(3, &rows, &[(1, 1.0)], true);
        assert_eq!(o, Outcome::Optimal);
        assert!((p[1] - 10.0).abs() < 1e-9, "{p:?}");
        let (o, p) = solve(3, &rows, &[(2, 1.0)], false);
        assert_eq!(o, Outcome::Optimal);
        assert!(p[2].abs() < 1e-9, "{p:?}");
    }

    #[test]
    fn re_optimising_from_the_last_basis_gives_each_optimum() {
        // x0 + x1 = 7, x1 - x2 ≥ 2 (so x1 ∈ [2, 7], x0 ∈ [0, 5]), x2 ≤ 3
        let rows = vec![
            (vec![(0, 1.0), (1, 1.0)], Op::Eq, 7.0),
            (vec![(1, 1.0), (2, -1.0)], Op::Ge, 2.0),
            (vec![(2, 1.0)], Op::Le, 3.0),
        ];
        let mut lp = Lp::feasible(3, &rows).unwrap();
        let mut extreme = |v: usize, max: bool| {
            assert_eq!(lp.optimise_vars(&[(v, 1.0)], max), Outcome::Optimal);
            lp.point()[v]
        };
        for (v, lo, hi) in [(0, 0.0, 5.0), (1, 2.0, 7.0), (2, 0.0, 3.0), (0, 0.0, 5.0)] {
            assert!((extreme(v, false) - lo).abs() < 1e-9);
            assert!((extreme(v, true) - hi).abs() < 1e-9);
        }
    }

    #[test]
    fn unbounded_and_infeasible_are_told_apart() {
        let rows = vec![(vec![(0, 1.0), (1, -1.0)], Op::Eq, 1.0)];
        assert_eq!(solve(2, &rows, &[(0, 1.0)], true).0, Outcome::Unbounded);
        let contradiction = vec![(vec![(0, 1.0)], Op::Ge, 5.0), (vec![(0, 1.0)], Op::Le, 4.0)];
        assert!(Lp::feasible(1, &contradiction).is_none());
        // A negative right-hand side no non-negative point meets.
        assert!(Lp::feasible(1, &[(vec![(0, 1.0)], Op::Eq, -1.0)]).is_none());
    }

    #[test]
    fn an_unbounded_answer_comes_with_a_ray_that_stays_feasible() {
        // x0 - x1 = 1, x2 ≤ 5: x0 and x1 grow together.
        let rows = vec![
            (vec![(0, 1.0), (1, -1.0)], Op::Eq, 1.0),
            (vec![(2, 1.0)], Op::Le, 5.0),
        ];
        let mut lp = Lp::feasible(3, &rows).unwrap();
        assert_eq!(lp.optimise_vars(&[(1, 1.0)], true), Outcome::Unbounded);
        let (p, d) = (lp.point(), lp.ray().unwrap());
        let far: Vec<f64> = p.iter().zip(&d).map(|(x, d)| x + 1000.0 * d).collect();
        assert!(far[1] >= 1000.0, "{far:?}");
        assert!(
            (far[0] - far[1] - 1.0).abs() < 1e-9 && far[2] <= 5.0 && far.iter().all(|&x| x >= 0.0),
            "{far:?}"
        );
        assert_eq!(lp.optimise_vars(&[(2, 1.0)], true), Outcome::Optimal);
        assert!(lp.ray().is_none());
    }

    #[test]
    fn a_redundant_equality_is_dropped_after_phase_one() {
        // The same equality twice, and its sum: two redundant rows.
        let rows = vec![
            (vec![(0, 1.0), (1, 1.0)], Op::Eq, 6.0),
            (vec![(0, 1.0), (1, 1.0)], Op::Eq, 6.0),
            (vec![(0, 2.0), (1, 2.0)], Op::Eq, 12.0),
        ];
        let mut lp = Lp::feasible(2, &rows).unwrap();
        assert_eq!(lp.rows(), 1);
        assert_eq!(lp.optimise_vars(&[(1, 1.0)], true), Outcome::Optimal);
        assert!((lp.point()[1] - 6.0).abs() < 1e-9);
    }

    /// Random small LPs that have a solution by construction (the right-hand sides are taken from a
    /// random non-negative point), shaped like the audit's: sums with ±1 and small coefficients,
    /// equalities and both kinds of inequality. Every optimum, asked for one after another on the
    /// same tableau, equals microlp's on a fresh problem, and unboundedness agrees.
    mod against_microlp {
        use super::*;
        use microlp::{ComparisonOp, OptimizationDirection, Problem};
        use proptest::prelude::*;

        type Rows = Vec<(Vec<(usize, f64)>, Op, f64)>;

        fn lp() -> impl Strategy<Value = (usize, Rows)> {
            (1usize..12).prop_flat_map(|vars| {
                let point = proptest::collection::vec(0u32..50, vars);
                let term = (
                    0..vars,
                    prop_oneof![Just(1.0), Just(-1.0), Just(2.0), Just(0.5)],
                );
                let row = (proptest::collection::vec(term, 1..6), 0u8..3, 0u32..20);
                (Just(vars), point, proptest::collection::vec(row, 1..10)).prop_map(
                    |(vars, point, rows)| {
                        let rows = rows
                            .into_iter()
                            .map(|(terms, op, slack)| {
                                let at: f64 = terms.iter().map(|&(v, a)| a * point[v] as f64).sum();
                                match op {
                                    0 => (terms, Op::Eq, at),
                                    1 => (terms, Op::Le, at + slack as f64),
                                    _ => (terms, Op::Ge, at - slack as f64),
                                }
                            })
                            .collect();
                        (vars, rows)
                    },
                )
            })
        }

        fn microlp(vars: usize, rows: &Rows, var: usize, maximise: bool) -> Option<f64> {
            let mut p = Problem::new(if maximise {
                OptimizationDirection::Maximize
            } else {
                OptimizationDirection::Minimize
            });
            let xs: Vec<_> = (0..vars)
                .map(|v| p.add_var(if v == var { 1.0 } else { 0.0 }, (0.0, f64::INFINITY)))
                .collect();
            for (terms, op, rhs) in rows {
                let mut expr: Vec<(microlp::Variable, f64)> = Vec::new();
                for &(v, a) in terms {
                    match expr.iter_mut().find(|(x, _)| *x == xs[v]) {
                        Some((_, c)) => *c += a,
                        None => expr.push((xs[v], a)),
                    }
                }
                let op = match op {
                    Op::Eq => ComparisonOp::Eq,
                    Op::Le => ComparisonOp::Le,
                    Op::Ge => ComparisonOp::Ge,
                };
                p.add_constraint(expr.as_slice(), op, *rhs);
            }
            match p.solve() {
                Ok(outcome) => Some(outcome.solution().expect("an optimum").objective()),
                Err(microlp::Error::Unbounded) => None,
                Err(e) => panic!("microlp: {e:?} on a feasible LP"),
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
            #[test]
            fn every_optimum_matches_microlp((vars, rows) in lp()) {
                let mut lp = Lp::feasible(vars, &rows).expect("feasible by construction");
                for var in 0..vars {
                    for maximise in [false, true] {
                        let ours = match lp.optimise_vars(&[(var, 1.0)], maximise) {
                            Outcome::Optimal => Some(lp.point()[var]),
                            Outcome::Unbounded => None,
                            Outcome::Failed => panic!("failed on a feasible LP"),
                        };
                        let theirs = microlp(vars, &rows, var, maximise);
                        match (ours, theirs) {
                            (Some(a), Some(b)) => prop_assert!((a - b).abs() < 1e-6, "x{} {}: ours {} microlp {}", var, if maximise { "max" } else { "min" }, a, b),
                            (a, b) => prop_assert_eq!(a.is_none(), b.is_none(), "x{} unbounded? ours {:?} microlp {:?}", var, a, b),
                        }
                    }
                }
            }
        }
    }
}
