# Peer for bench_startup.py: the constrained ML list-experiment model of Imai (2011) fitted by EM,
# the way list::ictreg(method = "ml") does (weighted glm M-steps on the augmented data), since the
# list package is not installable here (no CRAN). Reads the CSV, fits, prints the estimates.
# Usage: Rscript list_ml_em.R data.csv J tol
args <- commandArgs(TRUE)
d <- read.csv(args[1]); J <- as.integer(args[2]); tol <- as.numeric(args[3])
X <- model.matrix(~ x1 + x2 + x3 + x4 + x5, d); y <- d$y; t <- d$t; n <- nrow(X)
c0 <- t == 0
bh <- coef(glm(cbind(y[c0], J - y[c0]) ~ X[c0, ] - 1, family = binomial))
bg <- rep(0, ncol(X))
old <- -Inf
Xs <- rbind(X, X); zs <- rep(c(1, 0), each = n)
yc <- c(pmax(y - t, 0), pmin(y, J))
for (it in 1:5000) {
  g <- plogis(drop(X %*% bg)); h <- plogis(drop(X %*% bh))
  p1 <- g * ifelse(t == 1 & y == 0, 0, dbinom(pmax(y - t, 0), J, h))
  p0 <- (1 - g) * ifelse(t == 1 & y == J + 1, 0, dbinom(pmin(y, J), J, h))
  ll <- sum(log(p1 + p0)); w1 <- p1 / (p1 + p0)
  if (ll - old < tol) break
  old <- ll
  ws <- c(w1, 1 - w1)
  bg <- coef(suppressWarnings(glm(zs ~ Xs - 1, family = binomial, weights = ws, start = bg)))
  bh <- coef(suppressWarnings(glm(cbind(yc, J - yc) ~ Xs - 1, family = binomial, weights = ws, start = bh)))
}
cat(sprintf("{\"loglik\": %.10f, \"iterations\": %d, \"estimate\": %.10f}\n", ll, it, mean(plogis(drop(X %*% bg)))))
