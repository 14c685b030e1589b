# Independent reference for the split-ballot comparison with unequal arms (tests/test_field_unequal.py):
# each arm's answer shares and their standard errors, and each arm's difference from arm 1, from R's
# survey package (svyby with svymean, svycontrast), on a weights-only design (our own R code).
# Usage: Rscript split_ballot_reference.R data.csv out.json   (columns y = answer code, arm, w)
suppressMessages(library(survey))
suppressMessages(library(jsonlite))
args <- commandArgs(TRUE)
d <- read.csv(args[1])
d <- d[!is.na(d$y) & !is.na(d$arm), ]
codes <- sort(unique(d$y[d$w > 0]))
arms <- sort(unique(d$arm[d$w > 0]))
for (k in codes) d[[paste0("y", k)]] <- as.numeric(d$y == k)
des <- subset(svydesign(ids = ~1, weights = ~w, data = d), w > 0)
f <- as.formula(paste("~", paste0("y", codes, collapse = " + ")))
b <- svyby(f, ~arm, des, svymean, covmat = TRUE)
out <- list(codes = codes, arms = arms, shares = list(), se = list(), diff = list(), diff_se = list())
for (a in arms) {
  row <- b[b$arm == a, ]
  out$shares[[as.character(a)]] <- as.numeric(row[paste0("y", codes)])
  out$se[[as.character(a)]] <- as.numeric(row[paste0("se.y", codes)])
}
for (a in arms[-1]) {
  cons <- lapply(codes, function(k) setNames(c(1, -1), c(paste0(a, ":y", k), paste0(arms[1], ":y", k))))
  names(cons) <- paste0("c", codes)
  r <- svycontrast(b, cons)
  out$diff[[as.character(a)]] <- as.numeric(coef(r))
  out$diff_se[[as.character(a)]] <- as.numeric(SE(r))
}
write_json(out, args[2], digits = NA, auto_unbox = FALSE)
