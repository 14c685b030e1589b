# Reference weights from R's survey package for tests/test_weighting_reference.py.
# Run from this folder:  Rscript rake_reference.R   (writes rake_*.csv and poststratify_*.csv)
suppressMessages(library(survey))
d <- read.csv("data.csv", stringsAsFactors = FALSE)
d$sex <- factor(d$sex); d$age <- factor(d$age); d$region <- factor(d$region)
ctl <- list(maxit = 10000, epsilon = 1e-11)

shares <- list(
  sex = c(`1` = 0.462, `2` = 0.538),
  age = c(`18-29` = 0.17, `30-44` = 0.29, `45-59` = 0.25, `60+` = 0.29),
  region = c(`1` = 0.35, `2` = 0.2, `3` = 0.2, `4` = 0.15, `5` = 0.1)
)
pop <- function(total) lapply(names(shares), function(v) {
  df <- data.frame(names(shares[[v]]), as.numeric(shares[[v]]) * total)
  names(df) <- c(v, "Freq"); df
})
margins <- list(~sex, ~age, ~region)

# 1. equal input weights, shares (total = n)
des <- svydesign(ids = ~1, weights = rep(1, nrow(d)), data = d)
r1 <- rake(des, margins, pop(nrow(d)), control = ctl)
# 2. input weights with zeros, shares (total = sum of input weights)
des_w <- svydesign(ids = ~1, weights = ~w, data = d[d$w > 0, ])
r2 <- rake(des_w, margins, pop(sum(d$w)), control = ctl)
w2 <- rep(0, nrow(d)); w2[d$w > 0] <- weights(r2)
# 3. counts (population of 110 million)
r3 <- rake(des, margins, pop(110e6), control = ctl)
write.csv(data.frame(id = d$id, equal = weights(r1), input = w2, counts = weights(r3)),
          "rake_weights.csv", row.names = FALSE)

# post-stratification on sex x age (shares), with the input weights
cells <- expand.grid(sex = levels(d$sex), age = levels(d$age), stringsAsFactors = FALSE)
cells$Freq <- (seq_len(nrow(cells)) + 2) / sum(seq_len(nrow(cells)) + 2) * sum(d$w)
ps <- postStratify(des_w, ~sex + age, cells)
w4 <- rep(0, nrow(d)); w4[d$w > 0] <- weights(ps)
write.csv(data.frame(id = d$id, poststratified = w4), "poststratify_weights.csv", row.names = FALSE)
cells$share <- cells$Freq / sum(cells$Freq)
write.csv(cells[, c("sex", "age", "share")], "poststratify_targets.csv", row.names = FALSE)

# trimming: R's trimWeights(strict = TRUE) on the positive input weights, cap 2.5 x mean, floor 0.4 x mean
pos <- d[d$w > 0, ]
des_pos <- svydesign(ids = ~1, weights = ~w, data = pos)
mw <- mean(pos$w)
t1 <- trimWeights(des_pos, upper = 2.5 * mw, strict = TRUE)
t2 <- trimWeights(des_pos, upper = 2.5 * mw, lower = 0.4 * mw, strict = TRUE)
write.csv(data.frame(id = pos$id, capped = weights(t1), capped_floored = weights(t2)),
          "trim_weights.csv", row.names = FALSE)
