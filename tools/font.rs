//! A 3x5 pixel font for labelling preview tiles: digits, capital letters and a few signs.

/// The glyph of `c` as five rows of three bits (most significant bit left), or `None`.
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c.to_ascii_uppercase() {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 3, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 2, 2],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        'A' => [2, 5, 7, 5, 5],
        'B' => [6, 5, 6, 5, 6],
        'C' => [3, 4, 4, 4, 3],
        'D' => [6, 5, 5, 5, 6],
        'E' => [7, 4, 6, 4, 7],
        'F' => [7, 4, 6, 4, 4],
        'G' => [3, 4, 5, 5, 3],
        'H' => [5, 5, 7, 5, 5],
        'I' => [7, 2, 2, 2, 7],
        'J' => [1, 1, 1, 5, 2],
        'K' => [5, 5, 6, 5, 5],
        'L' => [4, 4, 4, 4, 7],
        'M' => [5, 7, 7, 5, 5],
        'N' => [6, 5, 5, 5, 5],
        'O' => [2, 5, 5, 5, 2],
        'P' => [6, 5, 6, 4, 4],
        'Q' => [2, 5, 5, 6, 3],
        'R' => [6, 5, 6, 5, 5],
        'S' => [3, 4, 2, 1, 6],
        'T' => [7, 2, 2, 2, 2],
        'U' => [5, 5, 5, 5, 7],
        'V' => [5, 5, 5, 5, 2],
        'W' => [5, 5, 7, 7, 5],
        'X' => [5, 5, 2, 5, 5],
        'Y' => [5, 5, 2, 2, 2],
        'Z' => [7, 1, 2, 4, 7],
        '-' => [0, 0, 7, 0, 0],
        '.' => [0, 0, 0, 0, 2],
        ' ' => [0; 5],
        _ => return None,
    })
}

/// Writes `text` into an RGB image of width `w` at `(x0, y0)`, each font pixel drawn as a
/// `scale` x `scale` block of `colour` on a dark backing, clipped to `(h, w)`.
pub fn draw(
    rgb: &mut [u8],
    (h, w): (usize, usize),
    (y0, x0): (usize, usize),
    text: &str,
    scale: usize,
) {
    let mut x = x0;
    for c in text.chars() {
        let Some(rows) = glyph(c) else { continue };
        for gy in 0..7 {
            for gx in 0..4 {
                let on = (1..6).contains(&gy) && gx < 3 && rows[gy - 1] >> (2 - gx) & 1 == 1;
                let colour = if on { [255, 255, 160] } else { [0, 0, 0] };
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (py, px) = (y0 + gy * scale + dy, x + gx * scale + dx);
                        if py < h && px < w {
                            let o = (py * w + px) * 3;
                            rgb[o..o + 3].copy_from_slice(&colour);
                        }
                    }
                }
            }
        }
        x += 4 * scale;
    }
}
