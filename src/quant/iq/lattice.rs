//! The search tables ggml builds at start-up for the lattice i-quants (`iq2xs_init_impl`,
//! `iq3xs_init_impl`): the grid as odd levels `2l+1`, a map from a point of the full lattice
//! to its grid entry, and for every point not on the grid the list of grid entries at the
//! `nwant` smallest distinct squared distances from it. Built once per grid, on first use.

use std::sync::OnceLock;

/// One grid's search tables, `N` coordinates per point.
pub(crate) struct Lattice<const N: usize> {
    /// Grid entries as odd levels `2l + 1`.
    pub grid: Vec<[i8; N]>,
    /// Per lattice point (`l_k` packed `bits` each): its grid index, or `-(offset + 1)` into
    /// `neighbours`, where `neighbours[offset]` is the count and the indices follow.
    pub map: Vec<i32>,
    /// Neighbour lists, in order of (squared distance, grid index).
    pub neighbours: Vec<u16>,
}

impl<const N: usize> Lattice<N> {
    #[allow(clippy::needless_range_loop)]
    fn build(kgrid: &[u16], bits: u32, map_size: usize, nwant: usize) -> Self {
        let mask = (1u16 << bits) - 1;
        let grid: Vec<[i8; N]> = kgrid
            .iter()
            .map(|&g| std::array::from_fn(|i| (2 * ((g >> (bits * i as u32)) & mask) + 1) as i8))
            .collect();
        let mut map = vec![-1i32; map_size];
        for (i, p) in grid.iter().enumerate() {
            let mut index = 0usize;
            for (k, &v) in p.iter().enumerate() {
                index |= (((v as usize) - 1) / 2) << (bits as usize * k);
            }
            map[index] = i as i32;
        }
        let mut neighbours = Vec::new();
        let mut d2s = vec![0u32; grid.len()];
        let max_d2 = N * (2 * mask as usize) * (2 * mask as usize);
        let mut count = vec![0u32; max_d2 + 1];
        for i in 0..map_size {
            if map[i] >= 0 {
                continue;
            }
            let pos: [i32; N] =
                std::array::from_fn(|k| 2 * ((i >> (bits as usize * k)) as i32 & mask as i32) + 1);
            count.fill(0);
            for (d, p) in d2s.iter_mut().zip(&grid) {
                let mut s = 0i32;
                for k in 0..N {
                    let t = p[k] as i32 - pos[k];
                    s += t * t;
                }
                *d = s as u32;
                count[s as usize] += 1;
            }
            // the nwant smallest distinct distances (all there are, if fewer)
            let mut wanted = Vec::with_capacity(nwant);
            for (d, &c) in count.iter().enumerate() {
                if c > 0 {
                    wanted.push(d as u32);
                    if wanted.len() == nwant {
                        break;
                    }
                }
            }
            let offset = neighbours.len();
            map[i] = -(offset as i32 + 1);
            neighbours.push(0);
            for &w in &wanted {
                for (j, &d) in d2s.iter().enumerate() {
                    if d == w {
                        neighbours.push(j as u16);
                    }
                }
            }
            neighbours[offset] = (neighbours.len() - offset - 1) as u16;
        }
        Lattice {
            grid,
            map,
            neighbours,
        }
    }

    /// The neighbour list (count first) of lattice point `index`, which is not on the grid.
    #[inline]
    pub fn neighbours_of(&self, index: usize) -> &[u16] {
        let off = (-self.map[index] - 1) as usize;
        let n = self.neighbours[off] as usize;
        &self.neighbours[off..off + 1 + n]
    }
}

/// The IQ2_XXS tables (256-entry grid, 2 distances).
pub(crate) fn iq2xxs() -> &'static Lattice<8> {
    static L: OnceLock<Lattice<8>> = OnceLock::new();
    L.get_or_init(|| Lattice::build(&super::grids::KGRID_2BIT_256, 2, 43692, 2))
}

/// The IQ2_XS tables (512-entry grid, 2 distances).
pub(crate) fn iq2xs() -> &'static Lattice<8> {
    static L: OnceLock<Lattice<8>> = OnceLock::new();
    L.get_or_init(|| Lattice::build(&super::grids::KGRID_2BIT_512, 2, 43692, 2))
}

/// The IQ2_S tables (1024-entry grid, 1 distance).
pub(crate) fn iq2s() -> &'static Lattice<8> {
    static L: OnceLock<Lattice<8>> = OnceLock::new();
    L.get_or_init(|| Lattice::build(&super::grids::KGRID_2BIT_1024, 2, 43692, 1))
}

/// The IQ1_S / IQ1_M tables (2048-entry grid, 3 distances).
pub(crate) fn iq1s() -> &'static Lattice<8> {
    static L: OnceLock<Lattice<8>> = OnceLock::new();
    L.get_or_init(|| Lattice::build(&super::grids::KGRID_1BIT_2048, 2, 43692, 3))
}

/// The IQ3_XXS tables (256-entry grid, 2 distances).
pub(crate) fn iq3xxs() -> &'static Lattice<4> {
    static L: OnceLock<Lattice<4>> = OnceLock::new();
    L.get_or_init(|| Lattice::build(&super::grids::KGRID_256, 3, 4096, 2))
}

/// The IQ3_S tables (512-entry grid, 3 distances).
pub(crate) fn iq3s() -> &'static Lattice<4> {
    static L: OnceLock<Lattice<4>> = OnceLock::new();
    L.get_or_init(|| Lattice::build(&super::grids::KGRID_512, 3, 4096, 3))
}

impl<const N: usize> Lattice<N> {
    /// ggml's `iq2_find_best_neighbour` / `iq3_find_best_neighbour`: among the neighbours of
    /// a lattice point (`nb`, count first), the grid entry minimising the weighted squared
    /// error of `scale * q` against `xval`; writes its levels to `l` and returns its index.
    /// (The reference aborts when no distance compares below `f32::MAX`, i.e. on NaN or
    /// infinite inputs; the first neighbour is taken then.)
    #[inline]
    pub fn best_neighbour(
        &self,
        nb: &[u16],
        xval: &[f32],
        weight: &[f32],
        scale: f32,
        l: &mut [i8],
    ) -> usize {
        let mut best_d2 = f32::MAX;
        let mut grid_index = None;
        for &j in &nb[1..] {
            let pg = &self.grid[j as usize];
            let mut d2 = 0f32;
            for i in 0..N {
                let q = pg[i] as f32;
                let diff = scale * q - xval[i];
                d2 += weight[i] * diff * diff;
            }
            if d2 < best_d2 {
                best_d2 = d2;
                grid_index = Some(j as usize);
            }
        }
        let gi = grid_index.unwrap_or(nb[1] as usize);
        let pg = &self.grid[gi];
        for i in 0..N {
            l[i] = (pg[i] - 1) / 2;
        }
        gi
    }
}
