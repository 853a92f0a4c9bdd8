# Sourced by sab_copying.sh and sab_adding.sh. learner_args TASK NAME prints the `nobptt train`
# arguments of SAB learner NAME on TASK (copying | adding): its experiment file, TASK_..., and any
# overrides. Names are the learner presets (nobptt/learners/sab.py): the first four are the paper's
# comparison; the *_fb1 two are the plain LSTMs with the forget gate's initial bias raised by 1
# (model.forget_bias), not in the paper.
SAB_LEARNERS="sab sab_lstm_tbptt5 sab_lstm_bptt sab_selfattn"
learner_args() {
  local task=$1 name=$2
  case "$name" in
    sab) echo "${task}_sab" ;;                                           # k_trunc 5, k_top 5, k_att 2
    sab_lstm_tbptt5) echo "${task}_lstm_tbptt5" ;;                       # LSTM, truncated BPTT (k = 5)
    sab_lstm_bptt) echo "${task}_lstm_bptt" ;;                           # LSTM, full BPTT
    sab_selfattn) echo "${task}_selfattn" ;;                             # LSTM + dense self-attention
    sab_lstm_tbptt5_fb1) echo "${task}_lstm_tbptt5 --set model.forget_bias=1.0" ;;
    sab_lstm_bptt_fb1) echo "${task}_lstm_bptt --set model.forget_bias=1.0" ;;
    *) echo "unknown learner '$name'; one of: $SAB_LEARNERS sab_lstm_tbptt5_fb1 sab_lstm_bptt_fb1" >&2
       return 2 ;;
  esac
}
