# Independent reference for tests/test_field_profile_margins.py: a share raked to margins on one
# profile question (sex), and its standard error, overall and by sex, from R's survey package
# (rake on an equal-probability design; our own R code).
# Usage: Rscript rake_profile_reference.R answers.csv out.json  (columns sex, q_support; margins 0.45 / 0.55)
suppressMessages(library(survey))
suppressMessages(library(jsonlite))
args <- commandArgs(TRUE)
d <- read.csv(args[1])
d$yes <- as.numeric(d$q_support == 1)
des <- svydesign(ids = ~1, weights = ~one, data = transform(d, one = 1))
pop <- data.frame(sex = c(1, 2), Freq = c(0.45, 0.55) * nrow(d))
r <- rake(des, list(~sex), list(pop))
m <- svymean(~yes, r)
b <- svyby(~yes, ~sex, r, svymean)
write_json(list(estimate = as.numeric(coef(m)), se = as.numeric(SE(m)), by_sex = as.numeric(b$yes), by_sex_se = as.numeric(b$se)),
           args[2], digits = NA, auto_unbox = TRUE)
