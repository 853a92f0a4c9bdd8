# Sourced by sab_copying.sh and sab_adding.sh: each learner of the episodic tasks as `nobptt train`
# overrides of the SAB experiment (the baselines are the same learner with other settings).
# The first four are the paper's comparison; the *fb1 two are the plain LSTMs with the forget gate's
# initial bias raised by 1 (model.forget_bias), not in the paper.
declare -A LEARNER=(
  [sab]=""                                                                # k_trunc 5, k_top 5, k_att 2
  [tbptt5]="--set model.attention=none --set model.k_trunc=5"             # LSTM, truncated BPTT (k = 5)
  [bptt]="--set model.attention=none --set model.k_trunc=0"               # LSTM, full BPTT
  [selfattn]="--set model.attention=dense --set model.k_att=1 --set model.k_trunc=0"  # + self-attention
  [tbptt5fb1]="--set model.attention=none --set model.k_trunc=5 --set model.forget_bias=1.0"
  [bpttfb1]="--set model.attention=none --set model.k_trunc=0 --set model.forget_bias=1.0"
)
